package store

// MatchLookupRatio lets tests make MatchPOsFor look POs up in a small account.
var MatchLookupRatio = &matchLookupRatio
