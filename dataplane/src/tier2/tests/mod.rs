//! Property tests of the tier-2 structures against simple models: random
//! interleavings of operations, checked after every step.

mod ports;
mod select;
mod table;
mod timer;
mod window;
