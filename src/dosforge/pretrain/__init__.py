"""CrysLDNet latent-diffusion pretraining of the DOSForge encoder (seed 002; docs/pretraining.md)."""
