//! The documents other tools write, read field by field: dbt's manifest and the JSON
//! navigation that reports where a document does not fit. Below the check language, which
//! checks a named manifest when the project is loaded, and lineage, which builds edges
//! from it.

pub mod dbt;
pub mod json;
