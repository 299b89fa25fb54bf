//! Shared helpers for the criterion benches and the load generator.
//!
//! Not built yet: benches arrive with the coordinator, runtime and surfaces
//! they measure.
