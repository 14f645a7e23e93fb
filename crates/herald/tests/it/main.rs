//! Integration tests: each starts the real Herald on a free port with its own SQLite file, and a
//! real HTTP receiver on 127.0.0.1.

mod api;
mod crash;
mod delivery;
mod formats;
mod helpers;
mod sdk;
