//! Shared test harness (filled in by the sim-adb work): `TestEnv` with a private adb server,
//! simulated handsets, temp dirs; everything stopped on drop.
