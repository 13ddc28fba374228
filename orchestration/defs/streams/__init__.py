"""Long-running stream jobs (collectors, the bronze sink) and the sensor that keeps them alive."""
