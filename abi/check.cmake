# check.cmake — ctest abi.check: describe the built libxla.so with abidw (public headers
# only) and compare it with the committed baseline; any difference fails, with abidiff's report.
execute_process(COMMAND ${ABIDW} --headers-dir ${HEADERS} --drop-private-types --no-corpus-path --no-show-locs --exported-interfaces-only
                        --out-file ${OUT} ${LIB} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "abidw failed on ${LIB}")
endif()
if(NOT EXISTS ${BASELINE})
  message(FATAL_ERROR "no ABI baseline ${BASELINE}: run make abi-update and commit it")
endif()
execute_process(COMMAND ${ABIDIFF} ${BASELINE} ${OUT} RESULT_VARIABLE rc_all OUTPUT_VARIABLE report_all)
if(NOT rc_all EQUAL 0)
  message(FATAL_ERROR "the ABI differs from abi/libxla.abi (abidiff status ${rc_all}):\n${report_all}\n"
                      "If the change is deliberate (docs/capi.md, 'Versions and the ABI'), run make abi-update "
                      "and commit abi/ with it.")
endif()
