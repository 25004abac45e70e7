# Reference numbers of R Matching (Sekhon) for tests/test_matching_golden.py.
#
#   Rscript tests/data/matching_reference.R [/path/to/cattaneo2.csv]
#
# Writes tests/data/matching_reference.json. Estimators: nearest-neighbour matching with
# replacement and all ties (Match(..., M = 1, ties = TRUE)), Mahalanobis distance on the
# covariates (Weight = 2), Abadie-Imbens standard errors with the heteroskedasticity-robust
# conditional variance from Var.calc = 2 same-group neighbours (Stata teffects nnmatch's
# default vce(robust, nn(2))), with and without the Abadie-Imbens (2011) bias adjustment
# (BiasAdjust = TRUE on Z), with and without exact matching.
#
# Data 1 (always): the NSW treated of the Dehejia-Wahba sample (nsw_mixtape.csv, 185) with the
# CPS-1 comparison group (cps_mixtape.csv, 15,992); outcome re78; covariates age, educ, black,
# hisp, marr, nodegree, re74, re75.
# Data 2 (if the path is given): Stata's birthweight example cattaneo2 (webuse cattaneo2; an
# excerpt of Cattaneo 2010), bweight on mbsmoke, covariates mmarried mage fage medu prenatal1,
# the specification whose Stata teffects output is in stata_teffects_cattaneo2.json.
suppressMessages(library(Matching))
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
one <- function(Y, Tr, X, est, ...) {
  m <- Match(Y = Y, Tr = Tr, X = X, estimand = est, M = 1, Weight = 2, Var.calc = 2, ...)
  list(estimate = m$est[1, 1], se = m$se)
}
out <- list(matching_version = as.character(packageVersion("Matching")), r_version = R.version.string)

nsw <- read.csv(file.path(here, "nsw_mixtape.csv"))
cps <- read.csv(file.path(here, "cps_mixtape.csv"))
d <- rbind(nsw[nsw$treat == 1, ], cps)
X <- as.matrix(d[, c("age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75")])
Z <- as.matrix(d[, c("age", "educ", "re74", "re75")])
out$nsw_cps <- list()
for (est in c("ATT", "ATE")) {
  out$nsw_cps[[paste0("nn_", est)]] <- one(d$re78, d$treat, X, est)
  out$nsw_cps[[paste0("nn_biasadj_", est)]] <- one(d$re78, d$treat, X, est, Z = Z, BiasAdjust = TRUE)
  out$nsw_cps[[paste0("nn_exact_", est)]] <- one(d$re78, d$treat, X, est,
                                                 exact = c(FALSE, FALSE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE))
}
if (length(args) >= 1) {
  b <- read.csv(args[1])
  X <- as.matrix(b[, c("mmarried", "mage", "fage", "medu", "prenatal1")])
  Z <- as.matrix(b[, c("mage", "fage", "medu")])
  out$cattaneo2 <- list()
  for (est in c("ATE", "ATT")) {
    out$cattaneo2[[paste0("nn_", est)]] <- one(b$bweight, b$mbsmoke, X, est)
    out$cattaneo2[[paste0("nn_biasadj_all_", est)]] <- one(b$bweight, b$mbsmoke, X, est, BiasAdjust = TRUE)
    out$cattaneo2[[paste0("nn_ematch_biasadj_", est)]] <- one(b$bweight, b$mbsmoke, X, est, Z = Z, BiasAdjust = TRUE,
                                                              exact = c(TRUE, FALSE, FALSE, FALSE, TRUE))
  }
}
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "matching_reference.json"))
print(str(out))
