"""The plot stage: recorded results -> figures and reports. Reads the results store only."""
