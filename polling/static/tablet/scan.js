// Scanning a credential's QR code with the tablet's camera: the browser's BarcodeDetector where it reads QR codes
// (Chrome on Android, ChromeOS, macOS), else the vendored @zxing/library (vendor/zxing/VERSION: version and hashes),
// loaded on first use and cached by the service worker like the rest of the app. No network, no eval: the strict
// CSP holds. Frames are read from a <video> showing the camera into a canvas a few times a second.

const INTERVAL_MS = 150;
const MAX_SIDE = 960; // frames are scaled down to this: enough for a badge's QR code, cheap to decode

let zxingDecode = null;

/** The zxing QR reader as a function of ImageData: the code's text, or null when the frame holds none. */
async function loadZxing() {
  if (!zxingDecode) {
    await import("./vendor/zxing/index.min.js"); // UMD: defines globalThis.ZXing
    const Z = globalThis.ZXing;
    const reader = new Z.QRCodeReader();
    const hints = new Map([[Z.DecodeHintType.TRY_HARDER, true]]);
    zxingDecode = ({data, width, height}) => {
      const luminance = new Uint8ClampedArray(width * height);
      for (let i = 0, j = 0; j < luminance.length; i += 4, j += 1) {
        luminance[j] = (data[i] * 77 + data[i + 1] * 150 + data[i + 2] * 29) >> 8;
      }
      const bitmap = new Z.BinaryBitmap(new Z.HybridBinarizer(new Z.RGBLuminanceSource(luminance, width, height)));
      try {
        return reader.decode(bitmap, hints).getText();
      } catch {
        return null; // no code in this frame (or not readable yet): try the next one
      } finally {
        reader.reset();
      }
    };
  }
  return zxingDecode;
}

async function nativeDetector() {
  if (!("BarcodeDetector" in globalThis)) return null;
  try {
    const formats = await globalThis.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new globalThis.BarcodeDetector({formats: ["qr_code"]}) : null;
  } catch {
    return null;
  }
}

export class Scanner {
  /** ``onCode(text)`` is called once with the first code read; the camera is then stopped. */
  constructor(video, onCode) {
    this.video = video;
    this.onCode = onCode;
    this.stream = null;
    this.timer = null;
    this.engine = "";
    this.canvas = document.createElement("canvas");
  }

  get running() {
    return this.stream !== null;
  }

  async start() {
    const detector = await nativeDetector();
    const decode = detector ? null : await loadZxing();
    this.engine = detector ? "BarcodeDetector" : "zxing";
    this.stream = await navigator.mediaDevices.getUserMedia({
      video: {facingMode: {ideal: "environment"}},
      audio: false,
    });
    this.video.srcObject = this.stream;
    await this.video.play();
    const tick = async () => {
      if (!this.stream) return;
      let text = null;
      try {
        text = detector ? await this.detectNative(detector) : this.detectZxing(decode);
      } catch (error) {
        console.warn("frame not decoded", error);
      }
      if (!this.stream) return;
      if (text) {
        this.stop();
        this.onCode(text);
      } else {
        this.timer = setTimeout(tick, INTERVAL_MS);
      }
    };
    tick();
  }

  async detectNative(detector) {
    if (this.video.readyState < 2) return null;
    const codes = await detector.detect(this.video);
    return codes.length ? codes[0].rawValue : null;
  }

  detectZxing(decode) {
    const {videoWidth: width, videoHeight: height} = this.video;
    if (this.video.readyState < 2 || !width || !height) return null;
    const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    this.canvas.width = Math.round(width * scale);
    this.canvas.height = Math.round(height * scale);
    const context = this.canvas.getContext("2d", {willReadFrequently: true});
    context.drawImage(this.video, 0, 0, this.canvas.width, this.canvas.height);
    return decode(context.getImageData(0, 0, this.canvas.width, this.canvas.height));
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.video.srcObject = null;
  }
}
