import Foundation

/// Bounds of an accepted ID card photo (R4).
public struct PhotoLimits: Codable, Sendable, Equatable {
    /// Smaller files are refused: a legible colour photo of a card is larger.
    public var minBytes: Int = 20 * 1024
    /// Larger files are refused with resourceExhausted before anything is stored.
    public var maxBytes: Int = 5 * 1024 * 1024
    /// Pixel bounds, orientation-agnostic (a phone may store the card
    /// portrait or landscape): the longer side at least `minLongSide`, the
    /// shorter at least `minShortSide`, neither above `maxSide`.
    /// Defaults: at least 300 x 200, at most 8000 x 8000.
    public var minLongSide: Int = 300
    public var minShortSide: Int = 200
    public var maxSide: Int = 8000

    public init() {}
}

/// The roster core's configuration; the shell reads it from its settings.
public struct RosterConfig: Codable, Sendable, Equatable {
    /// R2: a changed password has at least this many characters.
    public var minPasswordLength: Int = 8
    /// Bounds the work a slow hash does per request.
    public var maxPasswordLength: Int = 128
    /// R2: this many consecutive wrong passwords are tolerated; the next one
    /// (the maxFailures+1-th) locks the account.
    public var maxFailures: Int = 5
    /// R2: how long a locked account stays locked.
    public var lockSeconds: Int = 900
    /// A session lasts this long from login, and at least to the end of the
    /// plan's last exam day (Beijing time) when the plan is known: a phone
    /// that logged in for confirmation or the mock test does not log in, and
    /// hash, again in the formal entry window (issue 22). A candidate ends
    /// it by logging out; a password change ends the others.
    public var sessionSeconds: Int = 7200
    /// The longest a session lasts whatever the plan says.
    public var maxSessionSeconds: Int = 4 * 24 * 3600
    /// Unknown phones whose failed logins are counted (they lock like real
    /// accounts); beyond this the table starts again.
    public var maxPhantomAccounts: Int = 100_000
    /// Sessions kept per candidate (two phones, re-logins); the one expiring
    /// first is dropped beyond this, so the store stays bounded.
    public var maxSessionsPerCandidate: Int = 10
    /// A salt shorter than this is refused (the shell passes 16 random bytes).
    public var minSaltBytes: Int = 16
    /// A larger import file is refused (resourceExhausted).
    public var maxImportBytes: Int = 32 * 1024 * 1024
    public var photo: PhotoLimits = PhotoLimits()

    public init() {}

    /// Every setting out of range, each naming the setting. Empty means valid.
    public func problems() -> [String] {
        var out: [String] = []
        func positive(_ name: String, _ v: Int) { if v <= 0 { out.append("\(name): \(v) is not positive") } }
        positive("minPasswordLength", minPasswordLength)
        positive("maxFailures", maxFailures)
        positive("lockSeconds", lockSeconds)
        positive("sessionSeconds", sessionSeconds)
        positive("maxPhantomAccounts", maxPhantomAccounts)
        if maxSessionSeconds < sessionSeconds { out.append("maxSessionSeconds: \(maxSessionSeconds) is below sessionSeconds \(sessionSeconds)") }
        positive("maxSessionsPerCandidate", maxSessionsPerCandidate)
        positive("minSaltBytes", minSaltBytes)
        positive("maxImportBytes", maxImportBytes)
        if maxPasswordLength < minPasswordLength { out.append("maxPasswordLength: \(maxPasswordLength) is below minPasswordLength \(minPasswordLength)") }
        if photo.minBytes < 0 || photo.maxBytes <= photo.minBytes { out.append("photo: byte bounds \(photo.minBytes)...\(photo.maxBytes) are empty") }
        if photo.minShortSide <= 0 || photo.minLongSide < photo.minShortSide || photo.maxSide < photo.minLongSide {
            out.append("photo: pixel bounds \(photo.minLongSide)x\(photo.minShortSide)...\(photo.maxSide) are inconsistent")
        }
        return out
    }
}
