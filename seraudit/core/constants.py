"""The one place that decides the front-end constants shared by VGGish and YAMNet.

Values follow Google's published feature extractors (vggish_params.py, yamnet params.py).
"""

SAMPLE_RATE = 16_000
STFT_WINDOW_SECONDS = 0.025
STFT_HOP_SECONDS = 0.010
STFT_WINDOW_SAMPLES = 400  # round(SAMPLE_RATE * STFT_WINDOW_SECONDS)
STFT_HOP_SAMPLES = 160  # round(SAMPLE_RATE * STFT_HOP_SECONDS)
FFT_LENGTH = 512
NUM_MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = {"vggish": 0.01, "yamnet": 0.001}

PATCH_FRAMES = 96  # 0.96 s of 10 ms frames: one network input
PATCH_BANDS = NUM_MEL_BANDS
PATCH_HOP_FRAMES = 48  # default segment hop: 50 % overlap

# Minimum audio that yields exactly one patch with end-padded framing (ceil(n / hop) frames).
MIN_PATCH_SAMPLES = PATCH_FRAMES * STFT_HOP_SAMPLES
