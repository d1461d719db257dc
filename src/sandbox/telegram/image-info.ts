/**
 * Recognises an uploaded photo (PNG, JPEG, GIF, WebP) and reads its size from the header, so a sent
 * photo gets real PhotoSize dimensions and a file that is not an image is refused as Telegram does.
 */
export interface ImageInfo {
  readonly mime: string;
  readonly width: number;
  readonly height: number;
}

export function imageInfo(data: Buffer): ImageInfo | null {
  if (data.length >= 24 && data.readUInt32BE(0) === 0x89504e47) {
    return { mime: 'image/png', width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data.length >= 10 && data.toString('latin1', 0, 3) === 'GIF') {
    return { mime: 'image/gif', width: data.readUInt16LE(6), height: data.readUInt16LE(8) };
  }
  if (data.length >= 30 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return webp(data);
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0xd8) return jpeg(data);
  return null;
}

function jpeg(data: Buffer): ImageInfo | null {
  let pos = 2;
  while (pos + 9 < data.length) {
    if (data[pos] !== 0xff) return null;
    const marker = data[pos + 1] as number;
    // Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { mime: 'image/jpeg', height: data.readUInt16BE(pos + 5), width: data.readUInt16BE(pos + 7) };
    }
    pos += 2 + data.readUInt16BE(pos + 2);
  }
  return null;
}

function webp(data: Buffer): ImageInfo | null {
  const chunk = data.toString('latin1', 12, 16);
  if (chunk === 'VP8X') return { mime: 'image/webp', width: 1 + data.readUIntLE(24, 3), height: 1 + data.readUIntLE(27, 3) };
  if (chunk === 'VP8L') {
    const bits = data.readUInt32LE(21);
    return { mime: 'image/webp', width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
  }
  if (chunk === 'VP8 ') return { mime: 'image/webp', width: data.readUInt16LE(26) & 0x3fff, height: data.readUInt16LE(28) & 0x3fff };
  return null;
}
