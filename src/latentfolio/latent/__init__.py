"""The latent space as data: encode and decode, evaluate, densities, projections, clusters,
outlier scores, latent arithmetic for creating, and tiled inference over large images."""
