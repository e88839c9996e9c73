"""Pure domain types: enums, instruments and their integer grids, ids, errors, commands."""
