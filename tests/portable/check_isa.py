#!/usr/bin/env python3
"""check_isa.py LIB — fails if LIB has an instruction above the x86-64 baseline outside the
kernels compiled per instruction set (the xla::detail::isa_avx* namespaces, chosen at run
time). Such an instruction would make the library die with SIGILL on an older CPU.

It reads `objdump -d` of LIB with its symbol table, so every instruction is attributed to
the function it sits in: an AVX instruction in a shared inline function (a COMDAT copy the
linker took from a kernel file) is caught as well as a stray -m flag."""
import re
import subprocess
import sys

DISPATCHED = re.compile(r"xla::detail::isa_avx(2|512|512bf16)::")

# Mnemonics above x86-64 (SSE2) that GCC emits when allowed: SSE3, SSSE3, SSE4.1/4.2,
# POPCNT, LZCNT, BMI1/2, MOVBE. VEX/EVEX instructions (AVX and later) all begin with "v",
# mask-register instructions with "k"; ymm/zmm/k registers in an operand are caught too.
ABOVE_BASELINE = set("""
addsubpd addsubps haddpd haddps hsubpd hsubps lddqu movddup movshdup movsldup fisttp
pabsb pabsd pabsw palignr phaddd phaddsw phaddw phsubd phsubsw phsubw pmaddubsw pmulhrsw pshufb
psignb psignd psignw blendpd blendps blendvpd blendvps dppd dpps extractps insertps movntdqa
mpsadbw packusdw pblendvb pblendw pcmpeqq pextrb pextrd pextrq phminposuw pinsrb pinsrd pinsrq
pmaxsb pmaxsd pmaxud pmaxuw pminsb pminsd pminud pminuw pmovsxbd pmovsxbq pmovsxbw pmovsxdq
pmovsxwd pmovsxwq pmovzxbd pmovzxbq pmovzxbw pmovzxdq pmovzxwd pmovzxwq pmuldq pmulld ptest
roundpd roundps roundsd roundss crc32 pcmpestri pcmpestrm pcmpistri pcmpistrm pcmpgtq popcnt
lzcnt tzcnt andn bextr blsi blsmsk blsr bzhi mulx pdep pext rorx sarx shlx shrx movbe adcx adox
""".split())
REGISTER = re.compile(r"%(ymm|zmm)\d+|%k[0-7]\b")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_isa.py LIBRARY")
    lib = sys.argv[1]
    symtab = subprocess.run(["objdump", "-h", lib], capture_output=True, text=True, check=True).stdout
    syms = subprocess.run(["objdump", "-t", lib], capture_output=True, text=True, check=True).stdout
    if ".text" not in symtab or "isa_avx2" not in syms:
        sys.exit(f"{lib}: no symbol table with the kernels' names (stripped?): cannot attribute instructions")
    dis = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", lib], capture_output=True, text=True,
                         check=True).stdout
    func, bad, dispatched_avx = "?", {}, 0
    header = re.compile(r"^[0-9a-f]+ <(.*)>:$")
    insn = re.compile(r"^\s+[0-9a-f]+:\s+(\S+)\s*(.*)$")
    for line in dis.splitlines():
        m = header.match(line)
        if m:
            func = m.group(1)
            continue
        m = insn.match(line)
        if not m:
            continue
        mnemonic, operands = m.group(1), m.group(2)
        above = (mnemonic.startswith("v") or (mnemonic.startswith("k") and len(mnemonic) > 3)
                 or mnemonic in ABOVE_BASELINE or REGISTER.search(operands))
        if not above:
            continue
        if DISPATCHED.search(func):
            dispatched_avx += 1
        else:
            bad.setdefault(func, f"{mnemonic} {operands}".strip())
    if dispatched_avx == 0:
        sys.exit(f"{lib}: no AVX instruction in the dispatched kernels: were they compiled without their flags?")
    if bad:
        print(f"{lib}: {len(bad)} functions outside the dispatched kernels use instructions above x86-64:")
        for f, example in sorted(bad.items())[:40]:
            print(f"  {f}: {example}")
        sys.exit(1)
    print(f"{lib}: baseline x86-64 outside the dispatched kernels ({dispatched_avx} AVX instructions inside them)")


if __name__ == "__main__":
    main()
