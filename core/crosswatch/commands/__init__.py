"""One module per command group; ``crosswatch.cli`` imports them on demand."""
