"""chatapp's package data (chatapp.resources): styles, the embedded image model, LoRAs, SD configs, the icon."""
