"""GATT, the Generic Attribute Profile (Core 5.4 Vol 3 Part G): the public async package."""
