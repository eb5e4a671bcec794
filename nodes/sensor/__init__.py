"""Sensor sources and transforms: CSV replay, a synthetic IMU, window statistics, filters, anomalies."""
