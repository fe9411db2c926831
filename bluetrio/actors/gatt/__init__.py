"""The GATT layer (Core 5.4 Vol 3 Parts F and G): sans-IO, no trio, no other layer."""
