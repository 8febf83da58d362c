//! Confer SDK (in progress).
