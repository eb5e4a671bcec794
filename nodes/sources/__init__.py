"""Sources that are not one medium: messages from a broker (`source.mqtt`)."""
