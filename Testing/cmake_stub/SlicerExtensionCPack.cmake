# CPack is not exercised by the stand-in.
