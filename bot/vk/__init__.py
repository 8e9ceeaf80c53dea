"""The VK channel: the survey in a VK community chat through the `vk_api` client (see docs/vk.md)."""
