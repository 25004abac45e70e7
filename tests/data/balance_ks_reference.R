# Reference numbers of R for the Kolmogorov-Smirnov statistics and effective sample sizes of the
# balance table (tests/test_balance_ks.py).
#
#   Rscript tests/data/balance_ks_reference.R
#
# Writes tests/data/balance_ks_reference.json. Data: the NSW treated of the Dehejia-Wahba sample
# (nsw_mixtape.csv, 185) with the CPS-1 comparison group (cps_mixtape.csv, 15,992).
# Before: stats::ks.test of each covariate, treated against comparison (the two-sample statistic
# D = max |F1 - F0|). After: Matching::Match (M = 1, ties = FALSE, Mahalanobis: Weight = 2), then
# ks.test of each covariate over the matched pairs (a comparison row used r times counts r times,
# i.e. frequency weights), as Matching::MatchBalance reports it; the comparison rows used (1-based
# row numbers of the stacked data) are stored so that the test rebuilds the same weights. ESS:
# Kish's (sum w)^2 / sum w^2 of those frequency weights.
suppressMessages(library(Matching))
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
nsw <- read.csv(file.path(here, "nsw_mixtape.csv"))
cps <- read.csv(file.path(here, "cps_mixtape.csv"))
d <- rbind(nsw[nsw$treat == 1, ], cps)
covs <- c("age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75")
X <- as.matrix(d[, covs])
Tr <- d$treat
ks <- function(a, b) suppressWarnings(unname(ks.test(a, b, exact = FALSE)$statistic))
before <- sapply(covs, function(v) ks(X[Tr == 1, v], X[Tr == 0, v]))
set.seed(1)
m <- Match(Y = d$re78, Tr = Tr, X = X, estimand = "ATT", M = 1, Weight = 2, ties = FALSE)
after <- sapply(covs, function(v) ks(X[m$index.treated, v], X[m$index.control, v]))
w <- as.numeric(table(m$index.control))
out <- list(r_version = R.version.string, matching_version = as.character(packageVersion("Matching")),
            covariates = covs, ks_before = as.list(before), ks_after = as.list(after),
            index_control = m$index.control, ess_control = sum(w)^2 / sum(w^2), n_treated = sum(Tr == 1))
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE),
           file.path(here, "balance_ks_reference.json"))
