#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer_fuzz::turn_server(data));
