"""setup.py — the dynamic half of the package's build (pyproject.toml has the rest).

The library is the one `make build` made (build/libxla.so beside this checkout) or the file
named by LIBXLA. Its xla_version_string() is the package's version, and a regular install or
wheel carries a copy of it as xla/libxla.so.<abi>, which xla/_lib.py loads before anything on
the loader's path: an installed package keeps working when build/ is rebuilt or removed. An
editable install (pip install -e) copies nothing and loads build/libxla.so of the checkout.
"""
import ctypes
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def library() -> str:
    path = os.environ.get("LIBXLA") or os.path.join(HERE, "..", "..", "build", "libxla.so")
    if not os.path.isfile(path):
        sys.exit("setup.py: no libxla.so at %s: run `make build` first, or set LIBXLA to the library (an absolute path: pip builds in bindings/python)" % path)
    return os.path.realpath(path)


def library_info(path: str) -> "tuple[str, int]":
    """(xla_version_string(), xla_abi_version()) of the library at path."""
    lib = ctypes.CDLL(path)
    lib.xla_version_string.restype = ctypes.c_char_p
    lib.xla_abi_version.restype = ctypes.c_uint32
    return lib.xla_version_string().decode(), int(lib.xla_abi_version())


class BuildWithLibrary(build_py):
    """build_py, then libxla.so copied in as xla/libxla.so.<abi> (its SONAME)."""

    def run(self) -> None:
        editable = getattr(self, "editable_mode", False)
        if not editable:  # pip builds in place: nothing left from an earlier build may ship
            shutil.rmtree(os.path.join(self.build_lib, "xla"), ignore_errors=True)
        super().run()
        if editable:
            return
        path = library()
        self.copy_file(path, os.path.join(self.build_lib, "xla", "libxla.so.%d" % library_info(path)[1]))


commands = {"build_py": BuildWithLibrary}
try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        """A wheel tagged for this platform (it holds a native library), any Python 3: the
        package itself is pure Python over ctypes."""

        def finalize_options(self) -> None:
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self) -> "tuple[str, str, str]":
            return ("py3", "none", super().get_tag()[2])

    commands["bdist_wheel"] = PlatformWheel
except ImportError:  # no `wheel` package: pip install still works (and builds no wheel)
    pass

setup(version=library_info(library())[0], cmdclass=commands)
