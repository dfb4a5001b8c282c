"""Delivery channels: one small interface, one module per provider."""
