package store

// RotateBatchSize lets tests make RotateSecrets work in batches smaller than their data.
var RotateBatchSize = &rotateBatchSize
