"""Platform-neutral handlers, one module per feature. Nothing here imports a platform library."""
