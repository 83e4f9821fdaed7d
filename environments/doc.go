// Package environments owns ferry.yaml: it parses the pipeline strictly (unknown fields are
// errors naming ferry.yaml:LINE:COL), applies defaults in one place and validates environments,
// their promotion graph and their rollout stages. It is pure code with no I/O beyond the bytes
// it is given, or the one file Load reads from an fs.FS.
//
// Parse reports every problem it finds, not just the first, joined in file order with one
// problem per line:
//
//	ferry.yaml:8:12: environments[0].prune: must be true or false, got string "yes"
//	ferry.yaml:24:17: environments[1].rollout.stages[1].soak: must be a duration such as 90s or 10m: time: missing unit in duration "30"
//
// Strict means: unknown fields, duplicate keys and values of the wrong YAML type are errors;
// booleans are YAML 1.2 true and false only; a null value is the same as leaving the field
// out. Inputs larger than MaxFileSize, files of more than one YAML document and YAML anchors
// and aliases are refused: ferry.yaml has no use for them and refusing them rules out alias
// bombs.
package environments
