"""What Rasa trains on and how it is reached: training data, endpoints, Rasa client, channels."""
