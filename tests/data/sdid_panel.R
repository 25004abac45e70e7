# Reference numbers of R synthdid for tests/test_sdid_golden.py on tests/data/sdid_panel.csv
# (written by tests/data/sdid_panel.py): several treated units, so that the bootstrap and the
# jackknife are defined.
# A. common adoption: controls (cohort 0) and the cohort treated from period 17 (5 units):
#    estimates of SDID, SC and DID; jackknife SEs; bootstrap and placebo SEs with set.seed(7),
#    100 replications each.
# B. staggered adoption (cohorts 17 and 20): synthdid on each cohort with the never-treated units;
#    the average weighted by treated unit-periods is the staggered estimate (computed in the test).
# Usage: Rscript tests/data/sdid_panel.R > tests/data/sdid_panel.json  (synthdid installed, see sdid_prop99.R)
suppressMessages(library(synthdid))
df <- read.csv("tests/data/sdid_panel.csv")
mk <- function(d, g) {
  d$treated <- as.integer(d$cohort == g & d$period >= g)
  panel.matrices(d[, c("unit", "period", "y", "treated")])
}
fits <- function(s) list(sdid = synthdid_estimate(s$Y, s$N0, s$T0), sc = sc_estimate(s$Y, s$N0, s$T0),
                         did = did_estimate(s$Y, s$N0, s$T0))
out <- c()
s <- mk(df[df$cohort %in% c(0, 17), ], 17)
for (nm in c("sdid", "sc", "did")) {
  e <- fits(s)[[nm]]
  jk <- sqrt(vcov(e, method = "jackknife"))
  set.seed(7); bs <- sqrt(vcov(e, method = "bootstrap", replications = 100))
  set.seed(7); pl <- sqrt(vcov(e, method = "placebo", replications = 100))
  out <- c(out, sprintf('"%s": {"estimate": %.17g, "se_jackknife": %.17g, "se_bootstrap": %.17g, "se_placebo": %.17g}',
                        nm, c(e), jk, bs, pl))
}
for (g in c(17, 20)) {
  s <- mk(df[df$cohort %in% c(0, g), ], g)
  e <- synthdid_estimate(s$Y, s$N0, s$T0)
  out <- c(out, sprintf('"cohort_%d": {"estimate": %.17g, "n_treated": %d, "n_post": %d}', g, c(e),
                        nrow(s$Y) - s$N0, ncol(s$Y) - s$T0))
}
cat("{", paste(out, collapse = ",\n "), sprintf(',\n "versions": {"synthdid": "%s", "R": "%s"}}\n',
    as.character(packageVersion("synthdid")), R.version.string))
