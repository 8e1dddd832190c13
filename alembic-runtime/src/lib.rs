//! (being written by the runtime helper)
