"""Grouped (V5/V6) task: 4 behaviour groups per frame from normalised coordinates."""
