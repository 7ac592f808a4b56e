//! Fuzz target: `mcp_lambda_core::fuzzing::gateway_http` (see its docs for the invariants checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_lambda_core::fuzzing::gateway_http(data));
