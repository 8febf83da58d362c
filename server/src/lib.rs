//! Confer room server (in progress).
