"""Fakes of external vendors (never of our own components), served on loopback for tests."""
