//! Web-server access-log formats (contract, "Web-server access logs").
//! So far: [`open_input`], which undoes gzip, bzip2 and zstd.

pub mod compressed;

pub use compressed::{Compression, open_input, open_reader};
