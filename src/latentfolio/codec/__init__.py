"""Learned compression as real files: the .lfz format, entropy coding against frozen integer
tables, latent refinement, whole images, .lfa archives and the model store."""
