// The cue timeline lives in protocol/ now, where both clients use it; kept here for the library's tests.

export { CueTimeline } from "../../protocol/cueTimeline";
