#!/bin/sh
# hardening.sh - the built binary as the loader sees it: a position-
# independent executable (ASLR covers its code), relocations read-only
# after start (RELRO with BIND_NOW) and a stack that is not executable.
# A library's pkg-config file can take these away without a warning:
# Debian 12's libetpan.pc passes -specs=no-pie-link.specs (configure.ac
# drops it), which made otpbridge position-dependent.
. "${top_srcdir:-.}/tests/testlib.sh"

ok "readelf is installed (binutils)" command -v readelf
readelf -hW "$OTPBRIDGE" >"$T/h" 2>&1
readelf -lW "$OTPBRIDGE" >"$T/l" 2>&1
readelf -dW "$OTPBRIDGE" >"$T/d" 2>&1
like "$(grep 'Type:' "$T/h")" 'DYN \(Position-Independent Executable' "a position-independent executable"
ok "RELRO segment" grep -q GNU_RELRO "$T/l"
ok "BIND_NOW (full RELRO)" grep -qE 'BIND_NOW|Flags:.* NOW' "$T/d"
like "$(grep GNU_STACK "$T/l")" ' RW +0x' "the stack is not executable"
done_testing
