/* fuzz_influxql.c — libFuzzer target for the InfluxQL JSON (plain, chunked NDJSON, back to back)
 * parser: whole-body parse plus a two-piece parse that must agree (see fuzz_common.h). Built when
 * WG_FUZZ=ON (clang).
 */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_run(WG_PARSE_INFLUXQL_JSON, data, size);
}
