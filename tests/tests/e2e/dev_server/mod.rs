//! The built `mb dev` on a free loopback port, driven by real WebSocket clients (and the
//! console by chromium through chromedriver).

mod access;
mod bus_events;
mod client_node;
mod console_chromium;
mod console_reconnects;
mod lifetime;
mod resume;
mod websocket;
