//! Any bytes imported as CSV (the same records under a header row): records and refused lines that name a line of the file, or a
//! whole-file error; never a panic.
#![no_main]

use hone_core::import::read_back::{line_outside_the_file, read_bytes};
use hone_core::import::InputFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let reading = read_bytes(bytes, InputFormat::Csv);
    if let Some(outside) = line_outside_the_file(bytes, &reading) {
        panic!("{outside}");
    }
});
