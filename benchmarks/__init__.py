"""latentfolio's benchmarks: one module per question, each run as ``python -m benchmarks.NAME``.

Each prints JSON, writes ``benchmarks/results/NAME.json`` (with the date and the machine), and
measures against a baseline in the same run, so the ratio holds on a noisy machine. They use
latentfolio's public API (``import latentfolio as lf``) and its documented library modules.
``python -m benchmarks.tables --write`` renders every result into ``docs/benchmarks.md``.

    train_speed    training loop speed against the tutorial loop and a pure compute loop
    quality        test PSNR at equal wall-clock time against the tutorial autoencoder
    codec          rate-distortion against JPEG, WebP and AVIF
    denoise        denoisers against tuned classical denoisers
    generate       samples' Fréchet distance: VAE prior, AE prior, AE fitted mixture
    cluster        clustering NMI/ACC against N2D and k-means on pixels
    anomaly        one-class anomaly detection AUROC on FashionMNIST
    planted        planted odd pages found by `anomalies` in a collection
    catalog_speed  `index` against a plain loop; `similar` latency at a million codes
"""
