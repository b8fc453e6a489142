// test_certificates.h: self-signed certificates made at test time with the
// OpenSSL API (never committed keys), written to a temporary folder that
// the object removes.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace smtpgw::tls::testing {

enum class KeyType { rsa, ecdsa };

class TestCertificates {
  public:
    TestCertificates() {
        char tmpl[] = "/tmp/smtpgw-tls-test-XXXXXX";
        const char* d = mkdtemp(tmpl);
        dir_ = d ? d : "/tmp";
    }
    ~TestCertificates() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    // Writes NAME.crt and NAME.key (self-signed, SAN = dns_names); returns
    // {cert path, key path}. `days` < 0 makes an expired certificate.
    std::pair<std::string, std::string> make(const std::string& name, KeyType type,
                                             const std::vector<std::string>& dns_names,
                                             long days = 30) {
        EVP_PKEY* key = type == KeyType::rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial_++);
        X509_gmtime_adj(X509_getm_notBefore(x), days < 0 ? days * 2 * 86400 : -60);
        X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
        X509_set_pubkey(x, key);
        X509_NAME* subject = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(
            subject, "CN", MBSTRING_ASC,
            reinterpret_cast<const unsigned char*>(dns_names.front().c_str()), -1, -1, 0);
        X509_set_issuer_name(x, subject);
        std::string san;
        for (const auto& n : dns_names)
            san += (san.empty() ? "DNS:" : ",DNS:") + n;
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
        if (X509_EXTENSION* ext =
                X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str())) {
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        X509_sign(x, key, EVP_sha256());
        std::string crt = dir_ + "/" + name + ".crt", k = dir_ + "/" + name + ".key";
        if (std::FILE* f = std::fopen(crt.c_str(), "w")) {
            PEM_write_X509(f, x);
            std::fclose(f);
        }
        if (std::FILE* f = std::fopen(k.c_str(), "w")) {
            PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
            std::fclose(f);
        }
        X509_free(x);
        EVP_PKEY_free(key);
        return {crt, k};
    }

    std::string path(const std::string& file) const { return dir_ + "/" + file; }

  private:
    std::string dir_;
    long serial_ = 1;
};

} // namespace smtpgw::tls::testing
