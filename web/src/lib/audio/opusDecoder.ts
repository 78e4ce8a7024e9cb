// Thin WebCodecs adapter: Opus packets (48 kHz stereo, with the OpusHead as
// description) in, AudioData out, stamped with the packet's pts in µs.

export interface OpusPacketIn {
  data: Uint8Array;
  /** 48 kHz samples, pre-skip removed (as the core sends them). */
  ptsSamples: number;
  durationSamples: number;
}

export interface OpusDecoderPort {
  decode(p: OpusPacketIn): void;
  /** Drops queued work (seek, pause). */
  reset(): void;
  close(): void;
  readonly queued: number;
}

export const OPUS_CONFIG = { codec: "opus", sampleRate: 48_000, numberOfChannels: 2 } as const;

export async function opusDecodeSupported(): Promise<boolean> {
  if (typeof AudioDecoder === "undefined") return false;
  try {
    return (await AudioDecoder.isConfigSupported({ ...OPUS_CONFIG })).supported === true;
  } catch {
    return false;
  }
}

/** samples at 48 kHz -> µs, the unit of WebCodecs timestamps. */
export function samplesToUs(samples: number): number {
  return Math.round((samples * 1000) / 48);
}

export function createOpusDecoder(
  opusHead: Uint8Array,
  onData: (d: AudioData) => void,
  onError: (e: Error) => void,
): OpusDecoderPort {
  const dec = new AudioDecoder({
    output: onData,
    error: (e) => onError(e instanceof Error ? e : new Error(String(e))),
  });
  const configure = () => dec.configure({ ...OPUS_CONFIG, description: opusHead });
  configure();
  return {
    decode(p) {
      if (dec.state !== "configured") return;
      dec.decode(
        new EncodedAudioChunk({
          type: "key",
          timestamp: samplesToUs(p.ptsSamples),
          duration: samplesToUs(p.durationSamples),
          data: p.data,
        }),
      );
    },
    reset() {
      if (dec.state === "closed") return;
      dec.reset();
      configure();
    },
    close() {
      if (dec.state !== "closed") dec.close();
    },
    get queued() {
      return dec.decodeQueueSize;
    },
  };
}
