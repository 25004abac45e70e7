# Reference numbers of R synthdid for tests/test_sdid_golden.py: California Proposition 99
# (tests/data/smoking.csv), the paper's Table 1 (Arkhangelsky et al. 2021) as in synthdid's
# vignette "paper-results": SDID, SC and DID estimates, their unit and time weights, and
# placebo standard errors with set.seed(12345) before each vcov(..., method = "placebo")
# (200 replications); plus the placebo permutations themselves (so the algorithm can be
# checked draw by draw).
#
# Usage: R >= 4.2 with synthdid installed from source (Debian: apt-get install r-base-core
# r-cran-mvtnorm; R CMD INSTALL <checkout of github.com/synth-inference/synthdid>):
#   Rscript tests/data/sdid_prop99.R > tests/data/sdid_prop99.json
# Produced with synthdid 0.0.9 at commit 70c1ce3eac58e28c30b67435ca377bb48baa9b8a, R 4.2.2.
suppressMessages(library(synthdid))
num <- function(x) paste0("[", paste(sprintf("%.17g", as.numeric(x)), collapse = ", "), "]")
str_ <- function(x) paste0("[", paste0('"', x, '"', collapse = ", "), "]")
df <- read.csv("tests/data/smoking.csv")
df$treated <- as.integer(df$state == "California" & df$year >= 1989)
setup <- panel.matrices(df[, c("state", "year", "cigsale", "treated")])
est <- list(sdid = synthdid_estimate(setup$Y, setup$N0, setup$T0),
            sc = sc_estimate(setup$Y, setup$N0, setup$T0),
            did = did_estimate(setup$Y, setup$N0, setup$T0))
out <- c(sprintf('"units": %s', str_(rownames(setup$Y))), sprintf('"N0": %d, "T0": %d', setup$N0, setup$T0))
for (nm in names(est)) {
  e <- est[[nm]]; w <- attr(e, "weights")
  set.seed(12345); se <- sqrt(vcov(e, method = "placebo"))
  set.seed(12345); perms <- replicate(3, sample(1:setup$N0))
  out <- c(out, sprintf('"%s": {"estimate": %.17g, "se_placebo": %.17g, "omega": %s, "lambda": %s, "first_permutations": [%s]}',
                        nm, c(e), se, num(w$omega), num(w$lambda), paste(apply(perms, 2, num), collapse = ", ")))
}
cat("{", paste(out, collapse = ",\n "), sprintf(',\n "versions": {"synthdid": "%s", "R": "%s"}}\n',
    as.character(packageVersion("synthdid")), R.version.string))
