//! The GitHub edge (being built).
